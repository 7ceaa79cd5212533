-- Users (deal owners), deleted ones included: an old deal keeps its former owner's name.
-- materialized: ephemeral
SELECT
    id,
    name,
    email,
    coalesce(active_flag, true) AS active_flag,
    coalesce(is_deleted, false) AS is_deleted
FROM {{ source('users') }} AS users
