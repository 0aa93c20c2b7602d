-- Booking in the database, one round trip for many bookings.
--
-- vaxhub_book(req) reserves every dose of one series: a place in a slot and
-- a dose from a delivery that has arrived by then and not expired, for dose
-- 1 and (two-dose products) dose 2 inside its window. It raises a refusal
-- with its own SQLSTATE when something does not fit:
--   VX001 slot-full, VX002 no-slot, VX003 no-stock, VX004 no-second-slot,
--   VX005 no such slot, VX006 waitlist entry gone; 23505 on
--   appointments_one_open means the resident already holds an open series.
-- vaxhub_book_many(reqs) runs vaxhub_book for each request in its own
-- subtransaction, so one refusal undoes only its own reservations, and
-- returns one result per request. The caller writes the outbox rows and
-- commits once for the whole batch.

CREATE FUNCTION vaxhub_reserve_dose(p_centre text, p_product text, p_day date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_id text;
BEGIN
    FOR attempt IN 1..8 LOOP
        UPDATE deliveries SET reserved = reserved + 1
         WHERE id = (SELECT id FROM deliveries
                      WHERE centre_id = p_centre AND product = p_product AND arrives_on <= p_day
                        AND (expires_on IS NULL OR expires_on >= p_day) AND reserved < doses
                      ORDER BY expires_on NULLS LAST, arrives_on DESC, id LIMIT 1)
           AND reserved < doses
        RETURNING id INTO v_id;
        IF v_id IS NOT NULL THEN
            RETURN v_id;
        END IF;
        -- Nothing left, or a concurrent booking took the last dose of the
        -- delivery picked: look again with a fresh snapshot.
        IF NOT EXISTS (SELECT 1 FROM deliveries
                        WHERE centre_id = p_centre AND product = p_product AND arrives_on <= p_day
                          AND (expires_on IS NULL OR expires_on >= p_day) AND reserved < doses) THEN
            RETURN NULL;
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

-- The earliest slot in [p_from, p_to) with a free place and a dose.
CREATE FUNCTION vaxhub_reserve_earliest(p_centre text, p_product text, p_from timestamptz, p_to timestamptz,
    OUT slot_id bigint, OUT starts_at timestamptz, OUT ends_at timestamptz, OUT day date, OUT delivery_id text)
LANGUAGE plpgsql AS $$
DECLARE
    v_from timestamptz := p_from;
    v_after_day date;
    v_rows int;
BEGIN
    FOR attempt IN 1..50 LOOP
        SELECT s.id, s.starts_at, s.ends_at, s.day INTO slot_id, starts_at, ends_at, day
          FROM slots s
         WHERE s.centre_id = p_centre AND s.starts_at >= v_from AND s.starts_at < p_to AND s.booked < s.places
           AND (v_after_day IS NULL OR s.day > v_after_day)
           AND EXISTS (SELECT 1 FROM deliveries d WHERE d.centre_id = s.centre_id AND d.product = p_product
                          AND d.arrives_on <= s.day AND (d.expires_on IS NULL OR d.expires_on >= s.day) AND d.reserved < d.doses)
         ORDER BY s.starts_at LIMIT 1;
        IF slot_id IS NULL THEN
            RETURN;
        END IF;
        UPDATE slots SET booked = booked + 1 WHERE id = slot_id AND booked < places;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        IF v_rows = 0 THEN
            v_from := starts_at;      -- taken meanwhile: this or a later slot
            slot_id := NULL;
            CONTINUE;
        END IF;
        delivery_id := vaxhub_reserve_dose(p_centre, p_product, day);
        IF delivery_id IS NOT NULL THEN
            RETURN;
        END IF;
        -- The day's doses went meanwhile: give the place back, try the next day.
        UPDATE slots SET booked = booked - 1 WHERE id = slot_id;
        v_after_day := day;
        slot_id := NULL;
    END LOOP;
    slot_id := NULL;
END $$;

CREATE FUNCTION vaxhub_book(req jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ref     text := req->>'reference';
    v_centre  text := req->>'centre_id';
    v_product text := req->>'product';
    v_next    text := nullif(req->>'next_product', '');
    v_tz      text := req->>'tz';
    s1 record;
    s2 record;
    v_delivery text;
BEGIN
    IF (req->>'move')::boolean THEN
        -- Moving: the caller locked the series and released its old doses.
        UPDATE appointments SET centre_id = v_centre, product = v_product, updated_at = now() WHERE reference = v_ref;
    ELSE
        INSERT INTO appointments (reference, resident_id, centre_id, product, priority_group, status, booked_at)
        VALUES (v_ref, (req->>'resident_id')::uuid, v_centre, v_product, (req->>'priority_group')::int, 'booked', (req->>'booked_at')::timestamptz);
    END IF;

    IF nullif(req->>'slot_start', '') IS NOT NULL THEN
        UPDATE slots SET booked = booked + 1
         WHERE centre_id = v_centre AND starts_at = (req->>'slot_start')::timestamptz AND booked < places
        RETURNING id AS slot_id, starts_at, ends_at, day INTO s1;
        IF s1.slot_id IS NULL THEN
            IF EXISTS (SELECT 1 FROM slots WHERE centre_id = v_centre AND starts_at = (req->>'slot_start')::timestamptz) THEN
                RAISE EXCEPTION 'slot-full' USING ERRCODE = 'VX001';
            END IF;
            RAISE EXCEPTION 'no-such-slot' USING ERRCODE = 'VX005';
        END IF;
        v_delivery := vaxhub_reserve_dose(v_centre, v_product, s1.day);
        IF v_delivery IS NULL THEN
            RAISE EXCEPTION 'no-stock' USING ERRCODE = 'VX003';
        END IF;
    ELSE
        SELECT * INTO s1 FROM vaxhub_reserve_earliest(v_centre, v_product, (req->>'earliest')::timestamptz, (req->>'latest')::timestamptz);
        IF s1.slot_id IS NULL THEN
            RAISE EXCEPTION 'no-slot' USING ERRCODE = 'VX002';
        END IF;
        v_delivery := s1.delivery_id;
    END IF;
    INSERT INTO doses (reference, dose_number, product, slot_id, delivery_id, starts_at, ends_at, status)
    VALUES (v_ref, 1, v_product, s1.slot_id, v_delivery, s1.starts_at, s1.ends_at, 'booked');

    IF v_next IS NOT NULL THEN
        -- Dose 2 at the same centre, inside the interval, at the same time of
        -- day or the earliest after it.
        SELECT * INTO s2 FROM vaxhub_reserve_earliest(v_centre, v_next,
            s1.starts_at + make_interval(days => (req->>'next_min_days')::int),
            ((s1.starts_at AT TIME ZONE v_tz)::date + (req->>'next_max_days')::int + 1)::timestamp AT TIME ZONE v_tz);
        IF s2.slot_id IS NULL THEN
            RAISE EXCEPTION 'no-second-slot' USING ERRCODE = 'VX004';
        END IF;
        INSERT INTO doses (reference, dose_number, product, slot_id, delivery_id, starts_at, ends_at, status)
        VALUES (v_ref, 2, v_next, s2.slot_id, s2.delivery_id, s2.starts_at, s2.ends_at, 'booked');
    END IF;

    IF nullif(req->>'waitlist_entry_id', '') IS NOT NULL THEN
        UPDATE waitlist SET status = 'served', reference = v_ref
         WHERE id = (req->>'waitlist_entry_id')::uuid AND status = 'waiting';
        IF NOT FOUND THEN
            RAISE EXCEPTION 'waitlist-entry-gone' USING ERRCODE = 'VX006';
        END IF;
    END IF;

    RETURN jsonb_build_object('doses', (SELECT jsonb_agg(jsonb_build_object('dose_number', dose_number, 'product', product,
        'slot_id', slot_id, 'slot_start', starts_at, 'slot_end', ends_at) ORDER BY dose_number) FROM doses WHERE reference = v_ref));
END $$;

CREATE FUNCTION vaxhub_book_many(reqs jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
    out jsonb := '[]'::jsonb;
    v_state text;
    v_msg text;
    v_constraint text;
BEGIN
    FOR r IN SELECT value FROM jsonb_array_elements(reqs) LOOP
        BEGIN
            out := out || jsonb_build_array(vaxhub_book(r));
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_constraint = CONSTRAINT_NAME;
            out := out || jsonb_build_array(jsonb_build_object('state', v_state, 'error', v_msg, 'constraint', v_constraint));
        END;
    END LOOP;
    RETURN out;
END $$;
