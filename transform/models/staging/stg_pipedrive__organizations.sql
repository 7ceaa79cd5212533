{#- Organizations with their address parts. -#}
with source as (

    {{ pipeboard_read_source('organizations').sql }}

),

final as (

    select
        id,
        name,
        owner_id,
        address,
        address_locality,
        address_country,
        address_postal_code,
        {{ pipeboard_is_deleted() }} as is_deleted
    from source

)

select * from final
