with source as (
    select * from {{ source('raw', 'experiments') }}
),

renamed as (
    select
        experiment_id,
        variant,
        customer_id,
        assigned_at,
        cast(assigned_at as date) as assigned_date,
        dt as ingested_date
    from source
)

select * from renamed
