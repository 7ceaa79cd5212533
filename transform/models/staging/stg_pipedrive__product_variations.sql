{#- Variations of products (sizes, editions…); their prices are in stg_pipedrive__product_prices. -#}
with source as (

    {{ pipeboard_read_source('product_variations').sql }}

),

final as (

    select
        id,
        product_id,
        name,
        {{ pipeboard_is_deleted() }} as is_deleted
    from source

)

select * from final
