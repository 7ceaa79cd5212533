{#- Average and median days deals spent in each stage of each pipeline, over the visits that ended (moved to
    another stage, won or lost; deleted deals left out): for the stage as a whole (grain 'stage'), per deal
    owner (grain 'owner') and per month the stage was entered (grain 'entered_month'). -#}
{{ config(primary_key='time_in_stage_key') }}

with visits as (

    select
        *,
        cast(date_trunc('month', entered_at at time zone 'UTC') as date) as entered_month
    from {{ ref('deal_stage_history') }}
    where exited_at is not null
        and left_by in ('stage', 'won', 'lost')
        and not deal_is_deleted
        and pipeline_id is not null

),

grouped as (

    select
        case
            when grouping(owner_id) = 0 then 'owner'
            when grouping(entered_month) = 0 then 'entered_month'
            else 'stage'
        end as grain,
        pipeline_id,
        stage_id,
        owner_id,
        entered_month,
        count(*) as visits,
        count(*) filter (where left_by = 'stage') as moved_on,
        count(*) filter (where left_by = 'won') as won,
        count(*) filter (where left_by = 'lost') as lost,
        cast(avg(duration_days) as numeric(14, 4)) as avg_days,
        cast(percentile_cont(0.5) within group (order by duration_days) as numeric(14, 4)) as median_days,
        cast(min(duration_days) as numeric(14, 4)) as min_days,
        cast(max(duration_days) as numeric(14, 4)) as max_days
    from visits
    group by grouping sets (
        (pipeline_id, stage_id),
        (pipeline_id, stage_id, owner_id),
        (pipeline_id, stage_id, entered_month)
    )

),

final as (

    select
        concat_ws(
            ':', grouped.grain, grouped.pipeline_id, grouped.stage_id,
            coalesce(cast(grouped.owner_id as text), cast(grouped.entered_month as text), '')
        ) as time_in_stage_key,
        grouped.grain,
        grouped.pipeline_id,
        pipelines.name as pipeline_name,
        grouped.stage_id,
        stages.name as stage_name,
        stages.order_nr as stage_order_nr,
        grouped.owner_id,
        users.name as owner_name,
        grouped.entered_month,
        grouped.visits,
        grouped.moved_on,
        grouped.won,
        grouped.lost,
        grouped.avg_days,
        grouped.median_days,
        grouped.min_days,
        grouped.max_days
    from grouped
    left join {{ ref('stg_pipedrive__pipelines') }} as pipelines on pipelines.id = grouped.pipeline_id
    left join {{ ref('stg_pipedrive__stages') }} as stages on stages.id = grouped.stage_id
    left join {{ ref('stg_pipedrive__users') }} as users on users.id = grouped.owner_id

)

select * from final
