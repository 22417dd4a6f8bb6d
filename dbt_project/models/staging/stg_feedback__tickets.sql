with source as (
    select * from {{ source('raw', 'support_tickets') }}
),

renamed as (
    select
        ticket_id,
        customer_id,
        created_at,
        cast(created_at as date) as created_date,
        category,
        coalesce(priority, 'normal') as priority,
        coalesce(status, 'open') as status,
        dt as ingested_date
    from source
)

select * from renamed
