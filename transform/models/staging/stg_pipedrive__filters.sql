{#- Saved filters visible to the API token's user. -#}
with source as (

    {{ pipeboard_read_source('filters').sql }}

),

final as (

    select
        id,
        name,
        type,
        user_id,
        visible_to,
        {{ pipeboard_is_deleted() }} as is_deleted
    from source

)

select * from final
