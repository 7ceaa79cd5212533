{#- Persons taking part in a deal besides (or as well as) its contact person. -#}
with source as (

    {{ pipeboard_read_source('deal_participants').sql }}

),

final as (

    select
        id,
        deal_id,
        person_id,
        person_name,
        add_time,
        {{ pipeboard_is_deleted() }} as is_deleted
    from source

)

select * from final
