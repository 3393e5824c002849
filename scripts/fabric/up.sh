#!/usr/bin/env bash
# Brings up the native development network, from nothing, on 127.0.0.1:
# one etcdraft orderer (OrdererMSP), three region organizations
# (Region310000MSP, Region320000MSP, Region330000MSP; REGIONS in env.sh)
# with one peer each (LevelDB), the channel "trustid", and TrustID's
# contract deployed as a service (trustid-chaincode, through the project's
# own CCaaS builder).
#
# Endorsement: the chaincode definition names no policy of its own, so a
# transaction needs the channel's "MAJORITY Endorsement": with three
# regions, the peers of two of them (2 of 3; with two regions it was both).
# Deliberately not "any one region's peer": the contract checks who signed
# a proposal, but the peer that simulates it could lie about the result,
# so one region alone must not be able to write the registry (a vote, a
# suspension, another region's record). With three regions, one peer down
# (TestFabricPeerDown stops 310000's) still leaves two of three to endorse
# the other regions' writes. The chaincode lifecycle
# (LifecycleEndorsement) is MAJORITY too: two regions' approvals commit a
# definition. See docs/ledger.md.
#
# It writes $RUN/env (source it) and one Fabric common connection profile
# per region in $RUN/profiles/. Binaries come from build.sh (cached).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/env.sh"
step "check for a previous run"
[ ! -d "$RUN" ] || fail "$RUN exists: run down.sh first"
command -v curl >/dev/null || fail "up.sh needs curl (it reads the orderer's metrics)"
step "Fabric binaries"
"$FABRIC_SCRIPTS/build.sh"
trap 'rc=$?; [ $rc -eq 0 ] || echo "the network may be half up: scripts/fabric/down.sh stops it (KEEP_RUN=1 keeps $RUN/logs)"' EXIT
T0=$(now)
mkdir -p "$RUN"/{artifacts,logs,pids,config,profiles,builders/ccaas/bin,data/orderer}
LOGS=$RUN/logs

# ---------- the chaincode server, which is also the CCaaS builder ----------
run_step "build trustid-chaincode" "$LOGS/build.log" -- \
  env -C "$REPO_ROOT" CGO_ENABLED=0 go build -trimpath -o "$FABNET/trustid-chaincode" ./cmd/trustid-chaincode
for s in detect build release; do ln -f "$FABNET/trustid-chaincode" "$RUN/builders/ccaas/bin/$s"; done

# ---------- node configuration ----------
step "node configuration"
sed -e 's#endpoint: unix:///var/run/docker.sock#endpoint: ""#' \
    -e "s#name: ccaas_builder#name: trustid_ccaas#" \
    -e "s#path: /opt/hyperledger/ccaas_builder#path: $RUN/builders/ccaas#" \
    "$FABRIC_SAMPLECONFIG/core.yaml" > "$FABRIC_CFG_PATH/core.yaml"
cp "$FABRIC_SAMPLECONFIG/orderer.yaml" "$FABRIC_CFG_PATH/orderer.yaml"
grep -q "path: $RUN/builders/ccaas" "$FABRIC_CFG_PATH/core.yaml" || fail "core.yaml: external builder not set"

# ---------- crypto material ----------
step "crypto configuration"
{
  cat <<YAML
OrdererOrgs:
  - Name: Orderer
    Domain: orderer.trustid.local
    EnableNodeOUs: true
    Specs:
      - Hostname: orderer
        SANS: [localhost, 127.0.0.1]
PeerOrgs:
YAML
  for r in "${REGIONS[@]}"; do cat <<YAML
  - Name: Region$r
    Domain: $(org_domain "$r")
    EnableNodeOUs: true
    Template: {Count: 1, SANS: [localhost, 127.0.0.1]}
    Users: {Count: 1}
YAML
  done
} > "$RUN/crypto-config.yaml"
run_step "crypto material" "$LOGS/cryptogen.log" -- cryptogen generate --config="$RUN/crypto-config.yaml" --output="$RUN/crypto"

# ---------- channel genesis block (no system channel) ----------
step "channel configuration"
{
  cat <<YAML
Organizations:
  - &OrdererOrg
    Name: OrdererOrg
    ID: OrdererMSP
    MSPDir: $ORD_DIR/msp
    Policies:
      Readers: {Type: Signature, Rule: "OR('OrdererMSP.member')"}
      Writers: {Type: Signature, Rule: "OR('OrdererMSP.member')"}
      Admins:  {Type: Signature, Rule: "OR('OrdererMSP.admin')"}
    OrdererEndpoints: [127.0.0.1:$ORDERER_PORT]
YAML
  for r in "${REGIONS[@]}"; do m=$(msp_id "$r"); cat <<YAML
  - &R$r
    Name: $m
    ID: $m
    MSPDir: $(org_dir "$r")/msp
    Policies:
      Readers:     {Type: Signature, Rule: "OR('$m.admin','$m.peer','$m.client')"}
      Writers:     {Type: Signature, Rule: "OR('$m.admin','$m.client')"}
      Admins:      {Type: Signature, Rule: "OR('$m.admin')"}
      Endorsement: {Type: Signature, Rule: "OR('$m.peer')"}
    AnchorPeers:
      - {Host: 127.0.0.1, Port: $(peer_port "$r" 0)}
YAML
  done
  cat <<YAML
Capabilities:
  Channel: &ChannelCapabilities {V2_0: true}
  Orderer: &OrdererCapabilities {V2_0: true}
  Application: &ApplicationCapabilities {V2_5: true}
Application: &ApplicationDefaults
  Organizations:
  Policies:
    Readers:              {Type: ImplicitMeta, Rule: "ANY Readers"}
    Writers:              {Type: ImplicitMeta, Rule: "ANY Writers"}
    Admins:               {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
    LifecycleEndorsement: {Type: ImplicitMeta, Rule: "MAJORITY Endorsement"}
    Endorsement:          {Type: ImplicitMeta, Rule: "MAJORITY Endorsement"}
  Capabilities: *ApplicationCapabilities
Orderer: &OrdererDefaults
  OrdererType: etcdraft
  EtcdRaft:
    Consenters:
      - Host: 127.0.0.1
        Port: $ORDERER_PORT
        ClientTLSCert: $ORDERER_NODE/tls/server.crt
        ServerTLSCert: $ORDERER_NODE/tls/server.crt
  BatchTimeout: $BATCH_TIMEOUT
  BatchSize:
    MaxMessageCount: $MAX_MSG_COUNT
    AbsoluteMaxBytes: 99 MB
    PreferredMaxBytes: 2 MB
  Organizations:
  Policies:
    Readers:         {Type: ImplicitMeta, Rule: "ANY Readers"}
    Writers:         {Type: ImplicitMeta, Rule: "ANY Writers"}
    Admins:          {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
    BlockValidation: {Type: ImplicitMeta, Rule: "ANY Writers"}
Channel: &ChannelDefaults
  Policies:
    Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
    Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
    Admins:  {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
  Capabilities: *ChannelCapabilities
Profiles:
  TrustIDChannel:
    <<: *ChannelDefaults
    Orderer:
      <<: *OrdererDefaults
      Organizations: [*OrdererOrg]
      Capabilities: *OrdererCapabilities
    Application:
      <<: *ApplicationDefaults
      Organizations: [$(printf '*R%s, ' "${REGIONS[@]}" | sed 's/, $//')]
      Capabilities: *ApplicationCapabilities
YAML
} > "$RUN/configtx.yaml"
run_step "channel genesis block" "$LOGS/configtxgen.log" -- configtxgen -configPath "$RUN" -profile TrustIDChannel \
  -channelID "$CHANNEL" -outputBlock "$RUN/artifacts/$CHANNEL.block"
T_CONFIG=$(elapsed "$T0")

# ---------- orderer ----------
step "start the orderer" "$LOGS/orderer.log"
(
  export FABRIC_LOGGING_SPEC=${ORDERER_LOG:-warning}
  export ORDERER_GENERAL_LISTENADDRESS=127.0.0.1 ORDERER_GENERAL_LISTENPORT=$ORDERER_PORT
  export ORDERER_GENERAL_LOCALMSPID=OrdererMSP ORDERER_GENERAL_LOCALMSPDIR=$ORDERER_NODE/msp
  export ORDERER_GENERAL_TLS_ENABLED=true
  export ORDERER_GENERAL_TLS_PRIVATEKEY=$ORDERER_NODE/tls/server.key
  export ORDERER_GENERAL_TLS_CERTIFICATE=$ORDERER_NODE/tls/server.crt
  export ORDERER_GENERAL_TLS_ROOTCAS=[$ORDERER_NODE/tls/ca.crt]
  export ORDERER_GENERAL_BOOTSTRAPMETHOD=none ORDERER_CHANNELPARTICIPATION_ENABLED=true
  export ORDERER_FILELEDGER_LOCATION=$RUN/data/orderer
  export ORDERER_CONSENSUS_WALDIR=$RUN/data/orderer/etcdraft/wal
  export ORDERER_CONSENSUS_SNAPDIR=$RUN/data/orderer/etcdraft/snapshot
  export ORDERER_OPERATIONS_LISTENADDRESS=127.0.0.1:$ORDERER_OPS_PORT ORDERER_METRICS_PROVIDER=prometheus
  export ORDERER_ADMIN_LISTENADDRESS=127.0.0.1:$ORDERER_ADMIN_PORT
  export ORDERER_ADMIN_TLS_ENABLED=true
  export ORDERER_ADMIN_TLS_CERTIFICATE=$ORDERER_NODE/tls/server.crt
  export ORDERER_ADMIN_TLS_PRIVATEKEY=$ORDERER_NODE/tls/server.key
  export ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED=true
  export ORDERER_ADMIN_TLS_CLIENTROOTCAS=[$ORDERER_NODE/tls/ca.crt]
  exec orderer >>"$LOGS/orderer.log" 2>&1
) &
echo $! > "$RUN/pids/orderer"

# ---------- peers ----------
for r in "${REGIONS[@]}"; do "$FABRIC_SCRIPTS/peer.sh" start "$r"; done
for p in $ORDERER_ADMIN_PORT $ORDERER_OPS_PORT; do
  run_step "orderer listening on $p" "$LOGS/orderer.log" -- wait_for "orderer on 127.0.0.1:$p" 60 listening orderer "$p"
done
T_NODES=$(elapsed "$T0")

# ---------- channel ----------
run_step "orderer joins $CHANNEL" "$LOGS/osnadmin.log" -- \
  osnadmin_as channel join --channelID "$CHANNEL" --config-block "$RUN/artifacts/$CHANNEL.block"
# Joined is not ready: transactions are refused (SERVICE_UNAVAILABLE -- no
# Raft leader) until the channel's Raft has elected a leader.
run_step "Raft leader of $CHANNEL" "$LOGS/orderer.log" -- wait_for "a Raft leader for $CHANNEL" 60 raft_leader
T_LEADER=$(elapsed "$T0")
for r in "${REGIONS[@]}"; do
  run_step "peer $r joins $CHANNEL" "$LOGS/peer_cli.log" -- peer_as "$r" channel join -b "$RUN/artifacts/$CHANNEL.block"
done
for r in "${REGIONS[@]}"; do
  run_step "peer $r has $CHANNEL" "$LOGS/peer$r.log" -- wait_for "peer $r on $CHANNEL" 60 peer_as "$r" channel getinfo -c "$CHANNEL"
done
T_JOINED=$(elapsed "$T0")

# ---------- chaincode as a service ----------
step "chaincode package"
PKG=$RUN/pkg; mkdir -p "$PKG/src"
printf '{"address":"127.0.0.1:%s","dial_timeout":"10s","tls_required":false}\n' "$CC_SERVER_PORT" > "$PKG/src/connection.json"
printf '{"type":"ccaas","label":"%s"}\n' "$CC_LABEL" > "$PKG/metadata.json"
DTAR="tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner"
$DTAR -C "$PKG/src" -cf - connection.json | gzip -n > "$PKG/code.tar.gz"
$DTAR -C "$PKG" -cf - metadata.json code.tar.gz | gzip -n > "$RUN/$CC_LABEL.tar.gz"
for r in "${REGIONS[@]}"; do
  run_step "install the chaincode on peer $r" "$LOGS/peer_cli.log" -- peer_as "$r" lifecycle chaincode install "$RUN/$CC_LABEL.tar.gz"
done
step "package ID" "$LOGS/peer_cli.log"
PKG_ID=$(peer lifecycle chaincode calculatepackageid "$RUN/$CC_LABEL.tar.gz" 2>>"$LOGS/peer_cli.log")
echo "$PKG_ID" > "$RUN/package_id"
"$FABRIC_SCRIPTS/chaincode.sh" start
T_INSTALLED=$(elapsed "$T0")

# Transactions: retried with backoff (about 15 s in all) while the orderer
# still refuses them as unavailable.
UNAVAILABLE='SERVICE_UNAVAILABLE'
ORD=(-o "127.0.0.1:$ORDERER_PORT" --tls --cafile "$ORDERER_CA")
for r in "${REGIONS[@]}"; do
  run_step "approve the chaincode for $r" "$LOGS/peer_cli.log" -- retry_on "$UNAVAILABLE" 6 \
    peer_as "$r" lifecycle chaincode approveformyorg "${ORD[@]}" -C "$CHANNEL" -n "$CC_NAME" -v 1 \
      --package-id "$PKG_ID" --sequence 1 --waitForEvent
done
PEERS=()
for r in "${REGIONS[@]}"; do PEERS+=(--peerAddresses "127.0.0.1:$(peer_port "$r" 0)" --tlsRootCertFiles "$(peer_node "$r")/tls/ca.crt"); done
run_step "commit the chaincode definition" "$LOGS/peer_cli.log" -- retry_on "$UNAVAILABLE" 6 \
  peer_as "${REGIONS[0]}" lifecycle chaincode commit "${ORD[@]}" -C "$CHANNEL" -n "$CC_NAME" -v 1 --sequence 1 \
    "${PEERS[@]}" --waitForEvent
for r in "${REGIONS[@]}"; do
  run_step "definition committed on peer $r" "$LOGS/peer_cli.log" -- wait_for "$CC_NAME committed on peer $r" 60 \
    peer_as "$r" lifecycle chaincode querycommitted -C "$CHANNEL" -n "$CC_NAME"
done
T_COMMITTED=$(elapsed "$T0")
# Each peer endorses: a query goes through it to the chaincode server.
for r in "${REGIONS[@]}"; do
  run_step "peer $r runs the chaincode" "$LOGS/peer$r.log" -- wait_for "a query through peer $r" 60 \
    peer_as "$r" chaincode query -C "$CHANNEL" -n "$CC_NAME" -c '{"Args":["ListRegions"]}'
done
T_READY=$(elapsed "$T0")

# ---------- connection profiles and the env file ----------
step "connection profiles"
for r in "${REGIONS[@]}"; do
  d=$(org_domain "$r"); u=$(org_dir "$r")/users/User1@$d/msp
  cat > "$RUN/profiles/$r.yaml" <<YAML
# Fabric common connection profile for region $r's node (generated by up.sh).
name: trustid-$r
version: 1.0.0
client:
  organization: Region$r
organizations:
  Region$r:
    mspid: $(msp_id "$r")
    peers: [peer0.$d]
    signedCert: {path: $(ls "$u"/signcerts/*.pem)}
    adminPrivateKey: {path: $u/keystore/priv_sk}
peers:
  peer0.$d:
    url: grpcs://127.0.0.1:$(peer_port "$r" 0)
    tlsCACerts: {path: $(peer_node "$r")/tls/ca.crt}
    grpcOptions: {ssl-target-name-override: 127.0.0.1}
channels:
  $CHANNEL:
    peers:
      peer0.$d: {}
YAML
done
cat > "$RUN/env" <<ENV
# Generated by scripts/fabric/up.sh: the running development network.
export TRUSTID_FABRIC_PROFILE=$RUN/profiles/310000.yaml
export TRUSTID_FABRIC_PROFILE_310000=$RUN/profiles/310000.yaml
export TRUSTID_FABRIC_PROFILE_320000=$RUN/profiles/320000.yaml
export TRUSTID_FABRIC_PROFILE_330000=$RUN/profiles/330000.yaml
export TRUSTID_FABRIC_CHANNEL=$CHANNEL
export TRUSTID_FABRIC_CHAINCODE=$CC_NAME
export TRUSTID_FABRIC_SCRIPTS=$FABRIC_SCRIPTS
ENV
echo "fabric up in $(elapsed "$T0")s: configuration ${T_CONFIG}s, nodes listening ${T_NODES}s, Raft leader ${T_LEADER}s, peers joined ${T_JOINED}s, chaincode installed and served ${T_INSTALLED}s, committed ${T_COMMITTED}s, endorsing ${T_READY}s (package $PKG_ID); source $RUN/env"
