{#- Parent/related links between organizations; removed ones flagged. -#}
with source as (

    {{ pipeboard_read_source('organization_relationships').sql }}

),

final as (

    select
        id,
        type as relationship_type,
        rel_owner_org_id as owner_org_id,
        rel_linked_org_id as linked_org_id,
        add_time,
        update_time,
        {{ pipeboard_is_deleted() }} as is_deleted
    from source

)

select * from final
