-- Activity types, keyed by the key_string that activities carry in their `type`.
-- materialized: ephemeral
SELECT DISTINCT ON (key_string) key_string, name
FROM {{ source('activity_types') }} AS activity_types
WHERE key_string IS NOT NULL
ORDER BY key_string, id
