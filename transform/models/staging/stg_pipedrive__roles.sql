{#- Roles, the root (no parent) first in the hierarchy; deleted ones flagged. -#}
with source as (

    {{ pipeboard_read_source('roles').sql }}

),

final as (

    select
        id,
        parent_role_id,
        name,
        assignment_count,
        sub_role_count,
        level,
        {{ pipeboard_is_deleted() }} as is_deleted
    from source

)

select * from final
