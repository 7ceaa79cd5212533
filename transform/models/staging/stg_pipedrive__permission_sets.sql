{#- Permission sets per app; sets no longer in Pipedrive flagged. -#}
with source as (

    {{ pipeboard_read_source('permission_sets').sql }}

),

final as (

    select
        id,
        name,
        description,
        app,
        type as set_type,
        assignment_count,
        {{ pipeboard_is_deleted('false') }} as is_deleted
    from source

)

select * from final
