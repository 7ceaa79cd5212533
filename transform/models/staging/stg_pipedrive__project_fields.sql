{#- Project field metadata (the column each custom field lands in). -#}
with source as (

    {{ pipeboard_read_source('project_fields').sql }}

),

final as (

    select
        field_code,
        field_name,
        field_type,
        column_name,
        coalesce(is_custom_field, false) as is_custom_field,
        options,
        {{ pipeboard_is_deleted('false') }} as is_deleted
    from source

)

select * from final
