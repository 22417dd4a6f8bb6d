{#- Fails on rows for which the expression is false (an accounting identity, for example). -#}
{% test expression_is_true(model, expression) %}
select *
from {{ model }}
where not ({{ expression }})
{% endtest %}
