{#- The pipeline on every day since the history starts: per pipeline, stage and UTC day, the deals open in the
    stage at the end of the day (today: now) and their value in the reporting currency (each deal's current
    value_reporting). A day with none is a row with zeros, so every stage has a row for every day. Deleted deals
    are left out. -#}
{{ config(primary_key=['day', 'pipeline_id', 'stage_id']) }}

with visits as (

    select
        history.*,
        main_bi.value_reporting
    from {{ ref('deal_stage_history') }} as history
    left join {{ ref('main_bi') }} as main_bi on main_bi.id = history.deal_id
    where not history.deal_is_deleted
        and history.pipeline_id is not null

),

movements as (

    -- +1 the day a deal enters a stage, -1 the day it leaves: the running sum is what is there at day's end
    select
        pipeline_id,
        stage_id,
        {{ pipeboard_utc_date('entered_at') }} as day,
        1 as deals,
        coalesce(value_reporting, 0) as value
    from visits

    union all

    select
        pipeline_id,
        stage_id,
        {{ pipeboard_utc_date('exited_at') }} as day,
        -1 as deals,
        -coalesce(value_reporting, 0) as value
    from visits
    where exited_at is not null

),

daily_changes as (

    select pipeline_id, stage_id, day, sum(deals) as deals, sum(value) as value
    from movements
    group by 1, 2, 3

),

days as (

    select cast(day as date) as day
    from generate_series(
        (select min(day) from daily_changes),
        greatest((select max(day) from daily_changes), {{ pipeboard_utc_date('now()') }}),
        interval '1 day'
    ) as series (day)

),

pipeline_stages as (

    select distinct pipeline_id, stage_id from visits
    union
    select pipeline_id, id as stage_id
    from {{ ref('stg_pipedrive__stages') }}
    where not is_deleted
        and pipeline_id is not null
        and exists (select 1 from visits)

),

final as (

    select
        days.day,
        pipeline_stages.pipeline_id,
        pipelines.name as pipeline_name,
        pipeline_stages.stage_id,
        stages.name as stage_name,
        stages.order_nr as stage_order_nr,
        cast(sum(coalesce(daily_changes.deals, 0)) over running as bigint) as open_deals,
        sum(coalesce(daily_changes.value, 0)) over running as open_value
    from days
    cross join pipeline_stages
    left join daily_changes
        on daily_changes.pipeline_id = pipeline_stages.pipeline_id
        and daily_changes.stage_id = pipeline_stages.stage_id
        and daily_changes.day = days.day
    left join {{ ref('stg_pipedrive__pipelines') }} as pipelines on pipelines.id = pipeline_stages.pipeline_id
    left join {{ ref('stg_pipedrive__stages') }} as stages on stages.id = pipeline_stages.stage_id
    window running as (
        partition by pipeline_stages.pipeline_id, pipeline_stages.stage_id order by days.day
        rows between unbounded preceding and current row
    )

)

select * from final
