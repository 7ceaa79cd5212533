{#- Pipedrive's own exchange rates, one row per deal currency of the deals summary; rows the loader marked
    deleted (no longer in the summary) flagged. -#}
with source as (

    {{ pipeboard_read_source('deal_currency_rates').sql }}

),

final as (

    select
        currency,
        target_currency,
        rate,
        deals_count,
        value_total,
        value_converted_total,
        weighted_value_total,
        read_at,
        {{ pipeboard_is_deleted('false') }} as is_deleted
    from source

)

select * from final
