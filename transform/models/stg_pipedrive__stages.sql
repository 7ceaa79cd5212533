-- Stages with their pipeline.
-- materialized: ephemeral
SELECT id, name, order_nr, pipeline_id, deal_probability, coalesce(is_deleted, false) AS is_deleted
FROM {{ source('stages') }} AS stages
