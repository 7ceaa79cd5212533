{#- Users (deal owners), deleted ones included: an old deal keeps its former owner's name. -#}
with source as (

    {{ pipeboard_read_source('users').sql }}

),

final as (

    select
        id,
        name,
        email,
        default_currency,
        coalesce(is_you, false) as is_you,
        coalesce(active_flag, true) as active_flag,
        {{ pipeboard_is_deleted() }} as is_deleted
    from source

)

select * from final
