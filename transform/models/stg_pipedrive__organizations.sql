-- Organizations with their address parts.
-- materialized: ephemeral
SELECT
    id,
    name,
    owner_id,
    address,
    address_locality,
    address_country,
    address_postal_code,
    coalesce(is_deleted, false) AS is_deleted
FROM {{ source('organizations') }} AS organizations
