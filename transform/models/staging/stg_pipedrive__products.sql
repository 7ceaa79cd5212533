{#- Products (deleted ones included: a deal may still carry them). -#}
with source as (

    {{ pipeboard_read_source('products').sql }}

),

final as (

    select
        id,
        name,
        code,
        {{ pipeboard_is_deleted() }} as is_deleted
    from source

)

select * from final
