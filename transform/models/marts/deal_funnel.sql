{#- The funnel per pipeline and cohort (UTC month the deal was added): for each stage, the deals that reached it
    and the share that went on to the next stage and to won.

    "Reached stage S" = the deal visited S or any later stage of the pipeline (order_nr): a deal that skipped S
    reached it, a deal that moved back still counts for the furthest stage it got to, and each deal counts once
    per stage however often it came back. "Went on to the next" = reached the stage after S; "won" = the deal
    was won while in this pipeline. Deals are counted in every pipeline they visited; deleted deals and deleted
    stages are left out. -#}
{{ config(primary_key=['pipeline_id', 'cohort_month', 'stage_id']) }}

with stages as (

    select
        id as stage_id,
        name as stage_name,
        pipeline_id,
        order_nr,
        cast(row_number() over (partition by pipeline_id order by order_nr, id) as integer) as stage_position,
        count(*) over (partition by pipeline_id) as stages_in_pipeline
    from {{ ref('stg_pipedrive__stages') }}
    where not is_deleted
        and pipeline_id is not null

),

visits as (

    select * from {{ ref('deal_stage_history') }}
    where not deal_is_deleted

),

deal_reach as (

    select
        visits.deal_id,
        stages.pipeline_id,
        cast(date_trunc('month', min(visits.deal_add_time) at time zone 'UTC') as date) as cohort_month,
        max(stages.stage_position) as furthest_position,
        bool_or(visits.left_by = 'won') as is_won
    from visits
    inner join stages on stages.stage_id = visits.stage_id
    group by visits.deal_id, stages.pipeline_id

),

counted as (

    select
        stages.pipeline_id,
        deal_reach.cohort_month,
        stages.stage_id,
        stages.stage_name,
        stages.stage_position,
        stages.stage_position = stages.stages_in_pipeline as is_last_stage,
        count(*) as cohort_deals,
        count(*) filter (where deal_reach.furthest_position >= stages.stage_position) as deals_reached,
        count(*) filter (where deal_reach.furthest_position > stages.stage_position) as deals_reached_next,
        count(*) filter (where deal_reach.furthest_position >= stages.stage_position and deal_reach.is_won)
            as deals_won
    from stages
    inner join deal_reach on deal_reach.pipeline_id = stages.pipeline_id
    where deal_reach.cohort_month is not null
    group by 1, 2, 3, 4, 5, 6

),

final as (

    select
        counted.pipeline_id,
        pipelines.name as pipeline_name,
        counted.cohort_month,
        counted.stage_id,
        counted.stage_name,
        counted.stage_position,
        counted.is_last_stage,
        counted.cohort_deals,
        counted.deals_reached,
        case when not counted.is_last_stage then counted.deals_reached_next end as deals_reached_next,
        counted.deals_won,
        case
            when not counted.is_last_stage
                then cast(counted.deals_reached_next as numeric) / nullif(counted.deals_reached, 0)
        end as share_to_next,
        cast(counted.deals_won as numeric) / nullif(counted.deals_reached, 0) as share_won
    from counted
    left join {{ ref('stg_pipedrive__pipelines') }} as pipelines on pipelines.id = counted.pipeline_id

)

select * from final
