-- A TPC-DS-shaped report (after q4, q11, q64 and q78): year-over-year customer totals per
-- channel, joined back to customer, address, demographics, item, store and promotion
-- facts. decision.rs pads the select list and the WHERE clause until the text is ~10 KB.
WITH year_total AS (
    SELECT c_customer_id AS customer_id, c_first_name AS customer_first_name,
           c_last_name AS customer_last_name, c_preferred_cust_flag AS customer_preferred_cust_flag,
           c_birth_country AS customer_birth_country, c_login AS customer_login,
           c_email_address AS customer_email_address, d_year AS dyear,
           sum(((ss_ext_list_price - ss_ext_wholesale_cost - ss_ext_discount_amt) + ss_ext_sales_price) / 2) AS year_total,
           's' AS sale_type
    FROM customer
    JOIN store_sales ON c_customer_sk = ss_customer_sk
    JOIN date_dim ON ss_sold_date_sk = d_date_sk
    GROUP BY c_customer_id, c_first_name, c_last_name, c_preferred_cust_flag, c_birth_country,
             c_login, c_email_address, d_year
    UNION ALL
    SELECT c_customer_id, c_first_name, c_last_name, c_preferred_cust_flag, c_birth_country,
           c_login, c_email_address, d_year,
           sum((((cs_ext_list_price - cs_ext_wholesale_cost - cs_ext_discount_amt) + cs_ext_sales_price) / 2)),
           'c'
    FROM customer
    JOIN catalog_sales ON c_customer_sk = cs_bill_customer_sk
    JOIN date_dim ON cs_sold_date_sk = d_date_sk
    GROUP BY c_customer_id, c_first_name, c_last_name, c_preferred_cust_flag, c_birth_country,
             c_login, c_email_address, d_year
    UNION ALL
    SELECT c_customer_id, c_first_name, c_last_name, c_preferred_cust_flag, c_birth_country,
           c_login, c_email_address, d_year,
           sum((((ws_ext_list_price - ws_ext_wholesale_cost - ws_ext_discount_amt) + ws_ext_sales_price) / 2)),
           'w'
    FROM customer
    JOIN web_sales ON c_customer_sk = ws_bill_customer_sk
    JOIN date_dim ON ws_sold_date_sk = d_date_sk
    GROUP BY c_customer_id, c_first_name, c_last_name, c_preferred_cust_flag, c_birth_country,
             c_login, c_email_address, d_year
),
cross_items AS (
    SELECT i_item_sk ss_item_sk
    FROM item,
         (SELECT iss.i_brand_id brand_id, iss.i_class_id class_id, iss.i_category_id category_id
          FROM store_sales, item iss, date_dim d1
          WHERE ss_item_sk = iss.i_item_sk AND ss_sold_date_sk = d1.d_date_sk AND d1.d_year BETWEEN 1999 AND 2001
          INTERSECT
          SELECT ics.i_brand_id, ics.i_class_id, ics.i_category_id
          FROM catalog_sales, item ics, date_dim d2
          WHERE cs_item_sk = ics.i_item_sk AND cs_sold_date_sk = d2.d_date_sk AND d2.d_year BETWEEN 1999 AND 2001) x
    WHERE i_brand_id = brand_id AND i_class_id = class_id AND i_category_id = category_id
),
returns AS (
    SELECT sr_item_sk, sr_customer_sk, sum(sr_return_amt) AS returned, count(*) AS return_count
    FROM store_returns
    LEFT JOIN reason ON sr_reason_sk = r_reason_sk
    WHERE r_reason_desc NOT LIKE '%duplicate%'
    GROUP BY sr_item_sk, sr_customer_sk
)
SELECT /* report */
       t_s_secyear.customer_id, t_s_secyear.customer_first_name, t_s_secyear.customer_last_name,
       t_s_secyear.customer_email_address, ca.ca_city, ca.ca_state, ca.ca_zip, cd.cd_gender,
       cd.cd_marital_status, cd.cd_education_status, hd.hd_buy_potential, i.i_brand, i.i_category,
       s.s_store_name, s.s_company_name, p.p_promo_name,
       t_s_secyear.year_total / nullif(t_s_firstyear.year_total, 0) AS store_growth,
       t_c_secyear.year_total / nullif(t_c_firstyear.year_total, 0) AS catalog_growth,
       t_w_secyear.year_total / nullif(t_w_firstyear.year_total, 0) AS web_growth,
       coalesce(r.returned, 0) AS returned, coalesce(r.return_count, 0) AS return_count,
       rank() OVER (PARTITION BY ca.ca_state ORDER BY t_s_secyear.year_total DESC) AS state_rank,
       /*EXTRA_COLUMNS*/
       approx_percentile(ss.ss_net_profit, 0.5) AS median_profit
FROM year_total t_s_firstyear
JOIN year_total t_s_secyear ON t_s_secyear.customer_id = t_s_firstyear.customer_id
JOIN year_total t_c_firstyear ON t_s_firstyear.customer_id = t_c_firstyear.customer_id
JOIN year_total t_c_secyear ON t_s_firstyear.customer_id = t_c_secyear.customer_id
JOIN year_total t_w_firstyear ON t_s_firstyear.customer_id = t_w_firstyear.customer_id
JOIN year_total t_w_secyear ON t_s_firstyear.customer_id = t_w_secyear.customer_id
JOIN customer c ON c.c_customer_id = t_s_secyear.customer_id
JOIN customer_address ca ON c.c_current_addr_sk = ca.ca_address_sk
JOIN customer_demographics cd ON c.c_current_cdemo_sk = cd.cd_demo_sk
JOIN household_demographics hd ON c.c_current_hdemo_sk = hd.hd_demo_sk
JOIN income_band ib ON hd.hd_income_band_sk = ib.ib_income_band_sk
JOIN store_sales ss ON ss.ss_customer_sk = c.c_customer_sk
JOIN item i ON ss.ss_item_sk = i.i_item_sk
JOIN store s ON ss.ss_store_sk = s.s_store_sk
JOIN time_dim td ON ss.ss_sold_time_sk = td.t_time_sk AND td.t_hour BETWEEN 8 AND 20
LEFT JOIN promotion p ON ss.ss_promo_sk = p.p_promo_sk
LEFT JOIN returns r ON r.sr_item_sk = ss.ss_item_sk AND r.sr_customer_sk = ss.ss_customer_sk
WHERE t_s_firstyear.sale_type = 's' AND t_c_firstyear.sale_type = 'c' AND t_w_firstyear.sale_type = 'w'
  AND t_s_secyear.sale_type = 's' AND t_c_secyear.sale_type = 'c' AND t_w_secyear.sale_type = 'w'
  AND t_s_firstyear.dyear = 2001 AND t_s_secyear.dyear = 2001 + 1
  AND t_c_firstyear.dyear = 2001 AND t_c_secyear.dyear = 2001 + 1
  AND t_w_firstyear.dyear = 2001 AND t_w_secyear.dyear = 2001 + 1
  AND t_s_firstyear.year_total > 0 AND t_c_firstyear.year_total > 0 AND t_w_firstyear.year_total > 0
  AND ss.ss_item_sk IN (SELECT ss_item_sk FROM cross_items)
  AND ss.ss_sold_date_sk IN (SELECT d_date_sk FROM date_dim WHERE d_year = 2002 AND d_moy BETWEEN 1 AND 6)
  AND ca.ca_country = 'United States' AND cd.cd_marital_status IN ('M', 'S', 'W')
  AND s.s_state IN ('TN', 'GA', 'AL', 'SD') AND i.i_current_price BETWEEN 10 AND 150
  /*EXTRA_PREDICATES*/
GROUP BY t_s_secyear.customer_id, t_s_secyear.customer_first_name, t_s_secyear.customer_last_name,
         t_s_secyear.customer_email_address, ca.ca_city, ca.ca_state, ca.ca_zip, cd.cd_gender,
         cd.cd_marital_status, cd.cd_education_status, hd.hd_buy_potential, i.i_brand, i.i_category,
         s.s_store_name, s.s_company_name, p.p_promo_name, t_s_secyear.year_total, t_s_firstyear.year_total,
         t_c_secyear.year_total, t_c_firstyear.year_total, t_w_secyear.year_total, t_w_firstyear.year_total,
         r.returned, r.return_count
HAVING count(DISTINCT ss.ss_ticket_number) > 1
ORDER BY store_growth DESC NULLS LAST, t_s_secyear.customer_id
LIMIT 100
