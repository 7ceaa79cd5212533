{#- Per deal: how many activities, how many done and open, when the last one was done, and the next planned one
    (the earliest open activity by due date and time). -#}
with activities as (

    select * from {{ ref('stg_pipedrive__activities') }}

),

counts as (

    select
        deal_id,
        count(*) as activities_total,
        count(*) filter (where done) as activities_done,
        count(*) filter (where not done) as activities_open,
        max(marked_as_done_time) filter (where done) as last_activity_done_at
    from activities
    group by deal_id

),

next_planned as (

    select distinct on (deal_id)
        deal_id,
        due_date as next_activity_date,
        due_time as next_activity_due_time,
        due_at as next_activity_due_at,
        type_name as next_activity_type,
        subject as next_activity_subject
    from activities
    where not done
    order by deal_id, due_date nulls last, due_time nulls last, id

),

final as (

    select
        counts.deal_id,
        counts.activities_total,
        counts.activities_done,
        counts.activities_open,
        counts.last_activity_done_at,
        next_planned.next_activity_date,
        next_planned.next_activity_due_time,
        next_planned.next_activity_due_at,
        next_planned.next_activity_type,
        next_planned.next_activity_subject
    from counts
    left join next_planned on next_planned.deal_id = counts.deal_id

)

select * from final
