{#- Files attached in Pipedrive (metadata only: name, type, size, what they are attached to). -#}
with source as (

    {{ pipeboard_read_source('files').sql }}

),

final as (

    select
        id,
        deal_id,
        person_id,
        org_id,
        file_name,
        file_type,
        file_size,
        add_time,
        update_time,
        {{ pipeboard_is_deleted() }} as is_deleted
    from source

)

select * from final
