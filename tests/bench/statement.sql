-- Daily funnel for the web shop: sessions, page views and orders of January, per
-- country and device, with the share of sessions that ended in an order.
WITH sessions AS (
    SELECT s.session_id, s.user_id, s.started_at, s.device_type, s.country_code,
           s.landing_page, s.referrer_domain, s.utm_campaign
    FROM hive.web.sessions s
    WHERE s.ds BETWEEN DATE '2024-01-01' AND DATE '2024-01-31'
      AND s.is_bot = false
      AND s.device_type IN ('desktop', 'mobile', 'tablet')
),
views AS (
    SELECT v.session_id,
           count(*) AS page_views,
           count(DISTINCT v.page_id) AS distinct_pages,
           min(v.viewed_at) AS first_view,
           max(v.viewed_at) AS last_view,
           sum(CASE WHEN v.page_type = 'product' THEN 1 ELSE 0 END) AS product_views
    FROM hive.web.page_views v
    WHERE v.ds BETWEEN DATE '2024-01-01' AND DATE '2024-01-31'
    GROUP BY v.session_id
),
orders AS (
    SELECT o.session_id,
           count(*) AS order_count,
           sum(o.total_amount) AS revenue,
           max(o.created_at) AS last_order_at
    FROM hive.web.orders o
    WHERE o.ds BETWEEN DATE '2024-01-01' AND DATE '2024-02-02'
      AND o.status NOT IN ('cancelled', 'fraud')
    GROUP BY o.session_id
)
SELECT date_trunc('day', s.started_at) AS day,
       coalesce(c.name, 'unknown') AS country,
       s.device_type,
       count(*) AS sessions,
       sum(v.page_views) AS page_views,
       avg(v.distinct_pages) AS avg_distinct_pages,
       sum(v.product_views) AS product_views,
       count(o.session_id) AS sessions_with_order,
       sum(coalesce(o.revenue, 0)) AS revenue,
       CAST(count(o.session_id) AS double) / count(*) AS conversion_rate,
       avg(date_diff('second', v.first_view, v.last_view)) AS avg_session_seconds
FROM sessions s
JOIN views v ON v.session_id = s.session_id
LEFT JOIN orders o ON o.session_id = s.session_id
LEFT JOIN hive.dim.countries c ON c.code = s.country_code
WHERE v.page_views > 1
GROUP BY 1, 2, 3
HAVING count(*) >= 10
ORDER BY day, revenue DESC, sessions DESC
LIMIT 1000
