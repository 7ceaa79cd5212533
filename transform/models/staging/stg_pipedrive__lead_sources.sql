{#- The fixed list of lead sources. -#}
with source as (

    {{ pipeboard_read_source('lead_sources').sql }}

),

final as (

    select
        name,
        {{ pipeboard_is_deleted('false') }} as is_deleted
    from source

)

select * from final
