{#- Activity types, one per key_string (what activities carry in `type`). -#}
with source as (

    {{ pipeboard_read_source('activity_types').sql }}

),

final as (

    select distinct on (key_string)
        key_string,
        name
    from source
    where key_string is not null
    order by key_string, id

)

select * from final
