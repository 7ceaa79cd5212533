{#- Persons with one primary email and phone: the loaded primary_* column, else the entry flagged primary in the
    emails/phones arrays, else the first entry. -#}
with source as (

    {{ pipeboard_read_source('persons').sql }}

),

final as (

    select
        id,
        name,
        org_id,
        owner_id,
        coalesce(nullif(primary_email, ''), {{ pipeboard_primary_entry('emails') }}) as primary_email,
        coalesce(nullif(primary_phone, ''), {{ pipeboard_primary_entry('phones') }}) as primary_phone,
        {{ pipeboard_is_deleted() }} as is_deleted
    from source

)

select * from final
