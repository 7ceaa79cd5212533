{#- Which user has which permission set; assignments no longer in Pipedrive flagged. -#}
with source as (

    {{ pipeboard_read_source('permission_set_assignments').sql }}

),

final as (

    select
        permission_set_id,
        user_id,
        {{ pipeboard_is_deleted('false') }} as is_deleted
    from source

)

select * from final
