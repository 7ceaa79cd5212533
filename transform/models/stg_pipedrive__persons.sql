-- Persons with one primary email and phone: the loaded primary_* column, else the entry flagged primary in the
-- emails/phones arrays, else the first entry.
-- materialized: ephemeral
SELECT
    persons.id,
    persons.name,
    persons.org_id,
    persons.owner_id,
    coalesce(nullif(persons.primary_email, ''), (
        SELECT entry ->> 'value'
        FROM jsonb_array_elements(
            CASE WHEN jsonb_typeof(persons.emails) = 'array' THEN persons.emails ELSE '[]'::jsonb END
        ) WITH ORDINALITY AS entries (entry, position)
        WHERE nullif(entry ->> 'value', '') IS NOT NULL
        ORDER BY coalesce((entry ->> 'primary')::boolean, false) DESC, position
        LIMIT 1
    )) AS primary_email,
    coalesce(nullif(persons.primary_phone, ''), (
        SELECT entry ->> 'value'
        FROM jsonb_array_elements(
            CASE WHEN jsonb_typeof(persons.phones) = 'array' THEN persons.phones ELSE '[]'::jsonb END
        ) WITH ORDINALITY AS entries (entry, position)
        WHERE nullif(entry ->> 'value', '') IS NOT NULL
        ORDER BY coalesce((entry ->> 'primary')::boolean, false) DESC, position
        LIMIT 1
    )) AS primary_phone,
    coalesce(persons.is_deleted, false) AS is_deleted
FROM {{ source('persons') }} AS persons
