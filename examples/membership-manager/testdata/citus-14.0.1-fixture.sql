-- A Citus-shaped test fixture, following Citus v14.0.1
-- (github.com/citusdata/citus, tag v14.0.1, commit d5731d77). It is NOT
-- Citus: Citus cannot be installed where the tests run, so this file gives a
-- plain PostgreSQL the part of Citus's coordinator metadata that the
-- membership manager touches, with the same names, columns, types and
-- function signatures, and the documented behaviour written in PL/pgSQL.
--
-- Where each piece comes from, in that release:
--   noderole, pg_dist_node     src/backend/distributed/sql/citus--8.0-1.sql
--                              (CREATE TYPE pg_catalog.noderole, CREATE TABLE
--                              citus.pg_dist_node and the columns added there),
--                              citus--8.3-1--9.0-1.sql (metadatasynced, the
--                              sequences as defaults), citus--9.0-2--9.1-1.sql
--                              (shouldhaveshards),
--                              cat_upgrades/add_clone_info_to_pg_dist_node.sql
--                              (nodeisclone, nodeprimarynodeid; 13.2-1)
--   pg_dist_placement          src/backend/distributed/sql/citus--8.0-1.sql
--   citus_add_node             src/backend/distributed/sql/udfs/citus_add_node/latest.sql
--   citus_remove_node          src/backend/distributed/sql/udfs/citus_remove_node/latest.sql
--   citus_disable_node         src/backend/distributed/sql/udfs/citus_disable_node/latest.sql
--   citus_activate_node        src/backend/distributed/sql/udfs/citus_activate_node/latest.sql
--   the behaviour and errors   src/backend/distributed/metadata/node_metadata.c
--                              (citus_add_node, AddNodeMetadata,
--                              RemoveNodeFromCluster, citus_disable_node,
--                              ModifiableWorkerNode,
--                              ErrorIfNodeContainsNonRemovablePlacements)
--
-- What it models: a node's row, added once (adding a node that exists returns
-- its id and changes nothing), its group from pg_dist_groupid_seq, removal,
-- disabling and activation (isactive), "node at ... does not exist", and the
-- rule that a primary node cannot be removed or disabled while it holds the
-- only active placement of a shard, with Citus's error text, detail and hint.
-- Placements are modelled minimally: rows of pg_dist_placement that the test
-- inserts itself (no pg_dist_shard, no tables behind them; the detail names
-- the shard instead of its table), a placement counting as active when its
-- shardstate is 1 and its node is active.
--
-- What it does not model: the coordinator's own row and group 0 rules,
-- secondaries and clusters beyond the default, metadata sync to workers,
-- reference table replication, locks, superuser checks, connections to the
-- nodes (a node that does not exist is added all the same), and everything
-- else Citus does.
--
-- Citus creates all of this in pg_catalog; the fixture creates it in the
-- first schema of the search_path when it is loaded, so that each test has
-- its own, and binds the functions to that schema (SET search_path FROM
-- CURRENT). The functions are PL/pgSQL, not LANGUAGE C.

CREATE TYPE noderole AS ENUM (
  'primary',     -- node is available and accepting writes
  'secondary',   -- node is available but only accepts reads
  'unavailable'  -- node is in recovery or otherwise not usable
);

CREATE SEQUENCE pg_dist_groupid_seq MINVALUE 1 MAXVALUE 4294967296;
CREATE SEQUENCE pg_dist_node_nodeid_seq MINVALUE 1 MAXVALUE 4294967294;
CREATE SEQUENCE pg_dist_placement_placementid_seq;

CREATE TABLE pg_dist_node (
  nodeid int NOT NULL DEFAULT nextval('pg_dist_node_nodeid_seq') PRIMARY KEY,
  groupid int NOT NULL DEFAULT nextval('pg_dist_groupid_seq'),
  nodename text NOT NULL,
  nodeport int NOT NULL DEFAULT 5432,
  noderack text NOT NULL DEFAULT 'default',
  hasmetadata bool NOT NULL DEFAULT false,
  isactive bool NOT NULL DEFAULT true,
  noderole noderole NOT NULL DEFAULT 'primary',
  nodecluster name NOT NULL DEFAULT 'default',
  metadatasynced boolean DEFAULT false,
  shouldhaveshards bool NOT NULL DEFAULT true,
  nodeisclone boolean NOT NULL DEFAULT false,
  nodeprimarynodeid int4 NOT NULL DEFAULT 0,
  UNIQUE (nodename, nodeport),
  CONSTRAINT primaries_are_only_allowed_in_the_default_cluster
    CHECK (NOT (nodecluster <> 'default' AND noderole = 'primary'))
);

CREATE TABLE pg_dist_placement (
  placementid bigint NOT NULL DEFAULT nextval('pg_dist_placement_placementid_seq'::regclass),
  shardid bigint NOT NULL,
  shardstate int NOT NULL,
  shardlength bigint NOT NULL,
  groupid int NOT NULL,
  UNIQUE (shardid, groupid)
);

-- The node or Citus's error (ModifiableWorkerNode).
CREATE FUNCTION fixture_modifiable_worker_node(nodename text, nodeport integer)
  RETURNS pg_dist_node
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
  AS $$
DECLARE
  n pg_dist_node;
BEGIN
  LOCK TABLE pg_dist_node IN EXCLUSIVE MODE;
  SELECT * INTO n FROM pg_dist_node d WHERE d.nodename = $1 AND d.nodeport = $2;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'node at "%:%" does not exist', $1, $2;
  END IF;
  RETURN n;
END
$$;

-- ErrorIfNodeContainsNonRemovablePlacements: a placement of the node's group
-- whose shard has no active placement on another group.
CREATE FUNCTION fixture_error_if_non_removable_placements(n pg_dist_node)
  RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
  AS $$
DECLARE
  shard bigint;
BEGIN
  SELECT p.shardid INTO shard
    FROM pg_dist_placement p
   WHERE p.groupid = n.groupid
     AND NOT EXISTS (
       SELECT 1 FROM pg_dist_placement o JOIN pg_dist_node d ON d.groupid = o.groupid
        WHERE o.shardid = p.shardid AND o.groupid <> p.groupid
          AND o.shardstate = 1 AND d.isactive)
   ORDER BY p.shardid
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'cannot remove or disable the node %:% because because it contains the only shard placement for shard %',
        n.nodename, n.nodeport, shard
      USING DETAIL = format('One of the table(s) that prevents the operation complete successfully is (the fixture has no tables: shard %s)', shard),
            HINT = 'To proceed, either drop the tables or use undistribute_table() function to convert them to local tables';
  END IF;
END
$$;

-- citus_add_node: adds the node and returns its id; a node that exists
-- already is left as it is and its id returned.
CREATE FUNCTION citus_add_node(nodename text,
                               nodeport integer,
                               groupid integer default -1,
                               noderole noderole default 'primary',
                               nodecluster name default 'default')
  RETURNS INTEGER
  LANGUAGE plpgsql STRICT
  SET search_path FROM CURRENT
  AS $$
DECLARE
  id integer;
BEGIN
  SELECT d.nodeid INTO id FROM pg_dist_node d WHERE d.nodename = $1 AND d.nodeport = $2;
  IF FOUND THEN
    RETURN id;
  END IF;
  LOCK TABLE pg_dist_node IN EXCLUSIVE MODE;
  SELECT d.nodeid INTO id FROM pg_dist_node d WHERE d.nodename = $1 AND d.nodeport = $2;
  IF FOUND THEN
    RETURN id;
  END IF;
  INSERT INTO pg_dist_node (groupid, nodename, nodeport, noderole, nodecluster)
  VALUES (CASE WHEN $3 = -1 THEN nextval('pg_dist_groupid_seq')::int ELSE $3 END, $1, $2, $4, $5)
  RETURNING pg_dist_node.nodeid INTO id;
  RETURN id;
END
$$;
COMMENT ON FUNCTION citus_add_node(nodename text, nodeport integer,
                                   groupid integer, noderole noderole, nodecluster name)
  IS 'add node to the cluster (test fixture following Citus v14.0.1)';

-- citus_remove_node: removes the node, unless it holds the only placement of
-- a shard.
CREATE FUNCTION citus_remove_node(nodename text, nodeport integer)
  RETURNS void
  LANGUAGE plpgsql STRICT
  SET search_path FROM CURRENT
  AS $$
DECLARE
  n pg_dist_node := fixture_modifiable_worker_node($1, $2);
BEGIN
  IF n.noderole = 'primary' THEN
    PERFORM fixture_error_if_non_removable_placements(n);
  END IF;
  DELETE FROM pg_dist_placement p WHERE p.groupid = n.groupid;
  DELETE FROM pg_dist_node d WHERE d.nodeid = n.nodeid;
END
$$;
COMMENT ON FUNCTION citus_remove_node(nodename text, nodeport integer)
  IS 'remove node from the cluster (test fixture following Citus v14.0.1)';

-- citus_disable_node: marks the node inactive, unless it holds the only
-- placement of a shard (checked as Citus does, after marking, in the same
-- transaction, which the error rolls back).
CREATE FUNCTION citus_disable_node(nodename text, nodeport integer, synchronous bool default false)
  RETURNS void
  LANGUAGE plpgsql STRICT
  SET search_path FROM CURRENT
  AS $$
DECLARE
  n pg_dist_node := fixture_modifiable_worker_node($1, $2);
BEGIN
  UPDATE pg_dist_node d SET isactive = false WHERE d.nodeid = n.nodeid;
  IF n.noderole = 'primary' THEN
    PERFORM fixture_error_if_non_removable_placements(n);
  END IF;
END
$$;
COMMENT ON FUNCTION citus_disable_node(nodename text, nodeport integer, synchronous bool)
  IS 'removes node from the cluster temporarily (test fixture following Citus v14.0.1)';

-- citus_activate_node: marks the node active and returns its id.
CREATE FUNCTION citus_activate_node(nodename text, nodeport integer)
  RETURNS INTEGER
  LANGUAGE plpgsql STRICT
  SET search_path FROM CURRENT
  AS $$
DECLARE
  n pg_dist_node := fixture_modifiable_worker_node($1, $2);
BEGIN
  UPDATE pg_dist_node d SET isactive = true WHERE d.nodeid = n.nodeid;
  RETURN n.nodeid;
END
$$;
COMMENT ON FUNCTION citus_activate_node(nodename text, nodeport integer)
  IS 'activate a node which is in the cluster (test fixture following Citus v14.0.1)';
