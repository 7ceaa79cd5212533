{#- Which user holds which role; assignments no longer in Pipedrive flagged. -#}
with source as (

    {{ pipeboard_read_source('role_assignments').sql }}

),

final as (

    select
        role_id,
        user_id,
        coalesce(active_flag, true) as is_user_active,
        {{ pipeboard_is_deleted('false') }} as is_deleted
    from source

)

select * from final
