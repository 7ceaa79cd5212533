{#- One row per project (archived and deleted ones included, flagged) with its board, phase, owner, first deal
    and its tasks summed up: what a post-sale dashboard reads. Custom project fields follow as loaded. Named
    bi_projects: the loaded table is called projects, in the same schema by default. -#}
with projects as (

    select * from {{ ref('stg_pipedrive__projects') }}

),

boards as (

    select * from {{ ref('stg_pipedrive__boards') }}

),

phases as (

    select * from {{ ref('stg_pipedrive__phases') }}

),

users as (

    select * from {{ ref('stg_pipedrive__users') }}

),

deals as (

    select id, title from {{ ref('stg_pipedrive__deals') }}

),

task_facts as (

    select
        project_id,
        count(*) as tasks_total,
        count(*) filter (where is_done) as tasks_done,
        count(*) filter (where not is_done) as tasks_open,
        count(*) filter (where not is_done and due_date < current_date) as tasks_overdue,
        count(*) filter (where is_milestone) as milestones_total,
        count(*) filter (where is_milestone and is_done) as milestones_done,
        max(update_time) as last_task_update_time
    from {{ ref('stg_pipedrive__tasks') }}
    where not is_deleted
    group by project_id

),

final as (

    select
        projects.*,
        boards.name as board_name,
        phases.name as phase_name,
        phases.order_nr as phase_order_nr,
        owners.name as owner_name,
        case when jsonb_typeof(projects.deal_ids) = 'array' then jsonb_array_length(projects.deal_ids) else 0 end
            as deals_count,
        first_deal.id as first_deal_id,
        first_deal.title as first_deal_title,
        coalesce(task_facts.tasks_total, 0) as tasks_total,
        coalesce(task_facts.tasks_done, 0) as tasks_done,
        coalesce(task_facts.tasks_open, 0) as tasks_open,
        coalesce(task_facts.tasks_overdue, 0) as tasks_overdue,
        coalesce(task_facts.milestones_total, 0) as milestones_total,
        coalesce(task_facts.milestones_done, 0) as milestones_done,
        case when task_facts.tasks_total > 0 then task_facts.tasks_done::numeric / task_facts.tasks_total end
            as tasks_done_ratio,
        task_facts.last_task_update_time
    from projects
    left join boards on boards.id = projects.board_id
    left join phases on phases.id = projects.phase_id
    left join users as owners on owners.id = projects.owner_id
    left join deals as first_deal
        on jsonb_typeof(projects.deal_ids) = 'array' and first_deal.id = (projects.deal_ids ->> 0)::bigint
    left join task_facts on task_facts.project_id = projects.id

)

select * from final
