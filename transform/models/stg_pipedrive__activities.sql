-- Live (not deleted) activities attached to a deal, with their type's display name.
-- materialized: ephemeral
SELECT
    activities.id,
    activities.deal_id,
    activities.type,
    coalesce(types.name, activities.type) AS type_name,
    activities.subject,
    coalesce(activities.done, false) AS done,
    activities.due_date,
    activities.due_time,
    activities.marked_as_done_time,
    activities.add_time
FROM {{ source('activities') }} AS activities
LEFT JOIN {{ ref('stg_pipedrive__activity_types') }} AS types ON types.key_string = activities.type
WHERE activities.deal_id IS NOT NULL
  AND NOT coalesce(activities.is_deleted, false)
