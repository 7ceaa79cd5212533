{#- Pipelines. -#}
with source as (

    {{ pipeboard_read_source('pipelines').sql }}

),

final as (

    select
        id,
        name,
        order_nr,
        {{ pipeboard_is_deleted() }} as is_deleted
    from source

)

select * from final
