# shellcheck shell=bash
# The inventory haverify reads (sourced by lab/haverify-lab): $STATE/inventory.yaml,
# written by up: LANs, SSH, the lab, the database nodes, then the stack's
# endpoint and driver (stack_inventory).

write_inventory() {
    local profile=$1 f="$STATE/inventory.yaml" n lan
    {
        cat <<EOT
name: lab-$STACK
stack: $STACK
profile: $profile$([[ ${REPLICATION:-sync} == async ]] && echo "-async")$([[ ${FENCE:-} == off ]] && echo "-unfenced")
disk: $DISK
EOT
        # A proposed key (haverify reads no fence: yet, and an unknown key is
        # an error): until it does, --fence off shows in the profile.
        [[ -z ${FENCE:-} ]] || echo "# fence: $FENCE"
        cat <<EOT

lans:
  management:   {subnet: 198.18.0.0/24}
  service:      {subnet: 198.18.1.0/24$(stack_service_monitored && echo ", monitored: true")}
  replication:  {subnet: 198.18.2.0/24}
  interconnect: {subnet: 198.18.3.0/24}

ssh:
  user: $SSH_USER
$([[ $SSH_USER == root ]] || echo "  become: sudo")
  port: 22
  key: $SSH_KEY
  known_hosts: $KNOWN_HOSTS
  connect_timeout_ms: 3000
$( ((BASTION == 0)) || echo "  jump: [{host: $JUMP_ADDR, user: root, key: $JUMP_KEY}]")

lab:
  script: $SCRIPT
  state_dir: $STATE

nodes:
EOT
        for n in "${DB_NODES[@]}"; do
            echo "  - name: $n"
            echo "    ssh: {host: $(addr "$n" "$SSH_LAN")}"
            echo "    interfaces:"
            for lan in "${LANS[@]}"; do
                printf '      %-13s {ifname: %-6s address: %s/24}\n' "${LAN_LONG[$lan]}:" "${lan}0," "$(addr "$n" "$lan")"
            done
            cat <<EOT
    postgres:
      host: $(addr "$n" mgmt)
      port: $PG_PORT
      user: $PG_USER
      database: postgres
      data_dir: $PG_DATA
      bin_dir: $PG_BIN
      log_file: $(stack_pg_log)
      os_user: postgres
EOT
            if [[ $POWER == ipmi ]]; then
                cat <<EOT
    power: {controller: ipmi, bmc: $(bmc_addr "$n"), user: $BMC_USER, password_file: $STATE/bmc/password}
EOT
            else
                cat <<EOT
    power:
      controller: lab
EOT
            fi
        done
        stack_inventory
    } >"$f.tmp"
    mv -f "$f.tmp" "$f"
}
