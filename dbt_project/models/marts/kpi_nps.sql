-- Net Promoter Score per week and per month: % promoters (9-10) minus % detractors (0-6).
-- Weeks start on Monday. Empty when no NPS source is provided.
with responses as (
    select * from {{ ref('stg_feedback__nps') }}
),

deduplicated as (
    {{ deduplicate('responses', 'response_id', 'ingested_date') }}
),

final as (
    {% for grain in ['week', 'month'] %}
        select
            '{{ grain }}' as period_grain,
            cast({{ dbt.date_trunc(grain, 'response_date') }} as date) as period_start,
            count(*) as responses,
            cast(sum(case when nps_group = 'promoter' then 1 else 0 end) as bigint) as promoters,
            cast(sum(case when nps_group = 'passive' then 1 else 0 end) as bigint) as passives,
            cast(sum(case when nps_group = 'detractor' then 1 else 0 end) as bigint) as detractors,
            avg(cast(score as double)) as avg_score,
            cast(100 as double) * (
                sum(case when nps_group = 'promoter' then 1 else 0 end)
                - sum(case when nps_group = 'detractor' then 1 else 0 end)
            ) / count(*
            ) as nps
        from deduplicated
        group by 1, 2
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select * from final
