{#- Project boards; boards no longer in Pipedrive flagged. -#}
with source as (

    {{ pipeboard_read_source('boards').sql }}

),

final as (

    select
        id,
        name,
        order_nr,
        {{ pipeboard_is_deleted('false') }} as is_deleted
    from source

)

select * from final
