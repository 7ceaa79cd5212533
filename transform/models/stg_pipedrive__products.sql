-- Products (deleted ones included: a deal may still carry them).
-- materialized: ephemeral
SELECT id, name, code, coalesce(is_deleted, false) AS is_deleted
FROM {{ source('products') }} AS products
