-- Pipelines.
-- materialized: ephemeral
SELECT id, name, order_nr, coalesce(is_deleted, false) AS is_deleted
FROM {{ source('pipelines') }} AS pipelines
