{#- Legacy teams with their member ids (jsonb array) and member count; deleted teams flagged. -#}
with source as (

    {{ pipeboard_read_source('legacy_teams').sql }}

),

final as (

    select
        id,
        name,
        description,
        manager_id,
        users as user_ids,
        coalesce(jsonb_array_length(case when jsonb_typeof(users) = 'array' then users end), 0) as members_count,
        coalesce(active_flag, true) as active_flag,
        add_time,
        {{ pipeboard_is_deleted() }} as is_deleted
    from source

)

select * from final
