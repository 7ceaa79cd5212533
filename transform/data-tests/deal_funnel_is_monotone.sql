{#- A funnel never widens: a stage is reached by no more deals than the stage before it, and deals_reached_next
    is the next stage's deals_reached. Lists the rows that break it. -#}
with funnel as (

    select
        *,
        lead(deals_reached) over (partition by pipeline_id, cohort_month order by stage_position) as next_reached
    from {{ ref('deal_funnel') }}

)

select pipeline_id, cohort_month, stage_id, deals_reached, deals_reached_next, next_reached
from funnel
where next_reached > deals_reached
    or (not is_last_stage and deals_reached_next is distinct from next_reached)
    or deals_won > deals_reached
