{#- Phases of the project boards; phases no longer in Pipedrive flagged. -#}
with source as (

    {{ pipeboard_read_source('phases').sql }}

),

final as (

    select
        id,
        name,
        board_id,
        order_nr,
        {{ pipeboard_is_deleted('false') }} as is_deleted
    from source

)

select * from final
