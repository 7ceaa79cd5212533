{#- Project tasks and subtasks; tasks no longer in Pipedrive flagged. -#}
with source as (

    {{ pipeboard_read_source('tasks').sql }}

),

final as (

    select
        id,
        title,
        project_id,
        parent_task_id,
        creator_id,
        assignee_ids,
        coalesce(is_done, false) as is_done,
        coalesce(is_milestone, false) as is_milestone,
        due_date,
        start_date,
        priority,
        add_time,
        update_time,
        marked_as_done_time,
        {{ pipeboard_is_deleted('false') }} as is_deleted
    from source

)

select * from final
