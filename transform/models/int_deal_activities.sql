-- Per deal: how many activities, how many done and open, when the last one was done, and the next planned one
-- (the earliest open activity by due date and time).
-- materialized: ephemeral
WITH counts AS (
    SELECT
        deal_id,
        count(*) AS activities_total,
        count(*) FILTER (WHERE done) AS activities_done,
        count(*) FILTER (WHERE NOT done) AS activities_open,
        max(marked_as_done_time) FILTER (WHERE done) AS last_activity_done_at
    FROM {{ ref('stg_pipedrive__activities') }} AS activities
    GROUP BY deal_id
),

next_planned AS (
    SELECT DISTINCT ON (deal_id)
        deal_id,
        due_date AS next_activity_date,
        type_name AS next_activity_type,
        subject AS next_activity_subject
    FROM {{ ref('stg_pipedrive__activities') }} AS activities
    WHERE NOT done
    ORDER BY deal_id, due_date NULLS LAST, due_time NULLS LAST, id
)

SELECT
    counts.deal_id,
    counts.activities_total,
    counts.activities_done,
    counts.activities_open,
    counts.last_activity_done_at,
    next_planned.next_activity_date,
    next_planned.next_activity_type,
    next_planned.next_activity_subject
FROM counts
LEFT JOIN next_planned ON next_planned.deal_id = counts.deal_id
