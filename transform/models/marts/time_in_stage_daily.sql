{#- Finished stage visits per pipeline, stage, owner, UTC day the visit ended and how it ended, with their total
    duration: sum visits and days over any period and divide for the average time in stage of that period
    (what Pipedrive's movement statistics report, with left_by = 'stage'). Deleted deals are left out. -#}
{{ config(primary_key=['pipeline_id', 'stage_id', 'owner_id', 'exited_on', 'left_by']) }}

with visits as (

    select * from {{ ref('deal_stage_history') }}
    where exited_at is not null
        and left_by in ('stage', 'won', 'lost')
        and not deal_is_deleted
        and pipeline_id is not null

),

final as (

    select
        pipeline_id,
        stage_id,
        coalesce(owner_id, 0) as owner_id,
        {{ pipeboard_utc_date('exited_at') }} as exited_on,
        left_by,
        count(*) as visits,
        sum(duration_days) as total_days
    from visits
    group by 1, 2, 3, 4, 5

)

select * from final
