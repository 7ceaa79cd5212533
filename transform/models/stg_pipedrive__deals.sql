-- Deals as loaded: every column, custom fields included, with the relied-on ones typed.
-- materialized: ephemeral
SELECT *
FROM {{ source('deals') }} AS deals
