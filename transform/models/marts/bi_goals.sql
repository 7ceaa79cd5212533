{#- One row per goal (inactive and deleted ones included, flagged) with whom it is for and how far it got:
    progress from its start to the day it was read, against its target. -#}
with goals as (

    select * from {{ ref('stg_pipedrive__goals') }}

),

results as (

    select * from {{ ref('stg_pipedrive__goal_results') }}

),

users as (

    select * from {{ ref('stg_pipedrive__users') }}

),

teams as (

    select * from {{ ref('stg_pipedrive__legacy_teams') }}

),

final as (

    select
        goals.id,
        goals.title,
        goals.type_name,
        goals.assignee_type,
        goals.assignee_id,
        case goals.assignee_type
            when 'person' then assignees.name
            when 'team' then teams.name
            when 'company' then 'Company'
        end as assignee_name,
        goals.owner_id,
        owners.name as owner_name,
        goals.pipeline_ids,
        goals.activity_type_ids,
        goals.interval,
        goals.duration_start,
        goals.duration_end,
        goals.target,
        goals.tracking_metric,
        goals.target_currency_id,
        results.period_start,
        results.period_end,
        results.progress,
        results.progress_ratio,
        coalesce(results.progress >= goals.target, false) as is_reached,
        results.read_at as progress_read_at,
        goals.is_active,
        goals.is_deleted
    from goals
    left join results on results.goal_id = goals.id and not results.is_deleted
    left join users as assignees on goals.assignee_type = 'person' and assignees.id = goals.assignee_id
    left join teams on goals.assignee_type = 'team' and teams.id = goals.assignee_id
    left join users as owners on owners.id = goals.owner_id

)

select * from final
