#!/usr/bin/env bash
# Brings up the native development network, from nothing, on 127.0.0.1:
# one etcdraft orderer (OrdererMSP), two region organizations
# (Region310000MSP, Region320000MSP) with one peer each (LevelDB), the
# channel "trustid", and TrustID's contract deployed as a service
# (trustid-chaincode, through the project's own CCaaS builder).
#
# It writes $RUN/env (source it) and one Fabric common connection profile
# per region in $RUN/profiles/. Binaries come from build.sh (cached).
set -euo pipefail
source "$(dirname "$0")/env.sh"
T0=$(now)
if [ -d "$RUN" ]; then echo "$RUN exists: run down.sh first" >&2; exit 1; fi
"$FABRIC_SCRIPTS/build.sh"
T0=$(now)
mkdir -p "$RUN"/{artifacts,logs,pids,config,profiles,builders/ccaas/bin,data/orderer}

# ---------- the chaincode server, which is also the CCaaS builder ----------
( cd "$REPO_ROOT" && CGO_ENABLED=0 go build -trimpath -o "$FABNET/trustid-chaincode" ./cmd/trustid-chaincode )
for step in detect build release; do ln -f "$FABNET/trustid-chaincode" "$RUN/builders/ccaas/bin/$step"; done

# ---------- node configuration ----------
sed -e 's#endpoint: unix:///var/run/docker.sock#endpoint: ""#' \
    -e "s#name: ccaas_builder#name: trustid_ccaas#" \
    -e "s#path: /opt/hyperledger/ccaas_builder#path: $RUN/builders/ccaas#" \
    "$FABNET/sampleconfig/core.yaml" > "$FABRIC_CFG_PATH/core.yaml"
cp "$FABNET/sampleconfig/orderer.yaml" "$FABRIC_CFG_PATH/orderer.yaml"
grep -q "path: $RUN/builders/ccaas" "$FABRIC_CFG_PATH/core.yaml" || { echo "core.yaml: external builder not set" >&2; exit 1; }

# ---------- crypto material ----------
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
cryptogen generate --config="$RUN/crypto-config.yaml" --output="$RUN/crypto" >/dev/null

# ---------- channel genesis block (no system channel) ----------
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
configtxgen -configPath "$RUN" -profile TrustIDChannel -channelID "$CHANNEL" \
  -outputBlock "$RUN/artifacts/$CHANNEL.block" 2>"$RUN/logs/configtxgen.log"

# ---------- orderer ----------
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
  export ORDERER_OPERATIONS_LISTENADDRESS=127.0.0.1:$ORDERER_OPS_PORT
  export ORDERER_ADMIN_LISTENADDRESS=127.0.0.1:$ORDERER_ADMIN_PORT
  export ORDERER_ADMIN_TLS_ENABLED=true
  export ORDERER_ADMIN_TLS_CERTIFICATE=$ORDERER_NODE/tls/server.crt
  export ORDERER_ADMIN_TLS_PRIVATEKEY=$ORDERER_NODE/tls/server.key
  export ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED=true
  export ORDERER_ADMIN_TLS_CLIENTROOTCAS=[$ORDERER_NODE/tls/ca.crt]
  exec orderer >"$RUN/logs/orderer.log" 2>&1
) &
echo $! > "$RUN/pids/orderer"

# ---------- peers ----------
for r in "${REGIONS[@]}"; do "$FABRIC_SCRIPTS/peer.sh" start "$r"; done

wait_port $ORDERER_ADMIN_PORT 30
for r in "${REGIONS[@]}"; do wait_port "$(peer_port "$r" 0)" 30; done

# ---------- channel ----------
osnadmin channel join --channelID "$CHANNEL" --config-block "$RUN/artifacts/$CHANNEL.block" \
  -o 127.0.0.1:$ORDERER_ADMIN_PORT --ca-file "$ORDERER_CA" \
  --client-cert "$ORD_DIR/users/Admin@orderer.trustid.local/tls/client.crt" \
  --client-key "$ORD_DIR/users/Admin@orderer.trustid.local/tls/client.key" >"$RUN/logs/osnadmin_join.log"
for r in "${REGIONS[@]}"; do
  ( peer_cli_env "$r"; peer channel join -b "$RUN/artifacts/$CHANNEL.block" 2>>"$RUN/logs/peer_cli.log" )
done
T_NET=$(elapsed "$T0")

# ---------- chaincode as a service ----------
PKG=$RUN/pkg; mkdir -p "$PKG/src"
printf '{"address":"127.0.0.1:%s","dial_timeout":"10s","tls_required":false}\n' "$CC_SERVER_PORT" > "$PKG/src/connection.json"
printf '{"type":"ccaas","label":"%s"}\n' "$CC_LABEL" > "$PKG/metadata.json"
DTAR="tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner"
$DTAR -C "$PKG/src" -cf - connection.json | gzip -n > "$PKG/code.tar.gz"
$DTAR -C "$PKG" -cf - metadata.json code.tar.gz | gzip -n > "$RUN/$CC_LABEL.tar.gz"
for r in "${REGIONS[@]}"; do
  ( peer_cli_env "$r"; peer lifecycle chaincode install "$RUN/$CC_LABEL.tar.gz" 2>>"$RUN/logs/peer_cli.log" )
done
PKG_ID=$(peer lifecycle chaincode calculatepackageid "$RUN/$CC_LABEL.tar.gz")
echo "$PKG_ID" > "$RUN/package_id"
"$FABRIC_SCRIPTS/chaincode.sh" start
ORD=(-o 127.0.0.1:$ORDERER_PORT --tls --cafile "$ORDERER_CA")
for r in "${REGIONS[@]}"; do
  ( peer_cli_env "$r"
    peer lifecycle chaincode approveformyorg "${ORD[@]}" -C "$CHANNEL" -n "$CC_NAME" -v 1 \
      --package-id "$PKG_ID" --sequence 1 --waitForEvent 2>>"$RUN/logs/peer_cli.log" )
done
PEERS=()
for r in "${REGIONS[@]}"; do PEERS+=(--peerAddresses "127.0.0.1:$(peer_port "$r" 0)" --tlsRootCertFiles "$(peer_node "$r")/tls/ca.crt"); done
( peer_cli_env "${REGIONS[0]}"
  peer lifecycle chaincode commit "${ORD[@]}" -C "$CHANNEL" -n "$CC_NAME" -v 1 --sequence 1 \
    "${PEERS[@]}" --waitForEvent 2>>"$RUN/logs/peer_cli.log" )

# ---------- connection profiles and the env file ----------
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
export TRUSTID_FABRIC_CHANNEL=$CHANNEL
export TRUSTID_FABRIC_CHAINCODE=$CC_NAME
export TRUSTID_FABRIC_SCRIPTS=$FABRIC_SCRIPTS
ENV
echo "fabric up in $(elapsed "$T0")s (network ${T_NET}s; package $PKG_ID); source $RUN/env"
