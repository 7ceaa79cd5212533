{#- How complete the loaded deal changes are (one row at most; none when the stream was never loaded). -#}
with source as (

    {{ pipeboard_read_source('deal_history_coverage').sql }}

),

final as (

    select
        mode,
        coalesce(mode in ('stages', 'all'), false) as is_active,
        deals_needing_history,
        deals_complete,
        deals_pending,
        coverage,
        coalesce(is_complete, false) as is_complete,
        listed_through
    from source
    where stream = 'deal_changes' or stream is null

)

select * from final
