# A pleaco node on libvirt (dmacvicar/libvirt provider) from the golden image, joined to a cluster through NoCloud
# user-data: the cloudinit disk carries cloud-init/user-data.example.yaml (with your key) as `user_data`.
# Unchecked: terraform is not installed where this was written; the syntax follows the provider's 0.7 docs.
#
#   terraform init && terraform apply -var image=/var/lib/libvirt/images/pleaco.qcow2 -var user_data_file=../user-data.yaml

terraform {
  required_version = ">= 1.3"
  required_providers {
    libvirt = {
      source  = "dmacvicar/libvirt"
      version = "~> 0.7"
    }
  }
}

provider "libvirt" {
  uri = "qemu:///system"
}

variable "image" {
  description = "path of the pleaco golden image (qcow2)"
  type        = string
}

variable "user_data_file" {
  description = "the NoCloud user-data (cloud-init/user-data.example.yaml with your cluster key); empty: a first node"
  type        = string
  default     = ""
}

variable "nodes" {
  description = "how many nodes"
  type        = number
  default     = 3
}

resource "libvirt_volume" "base" {
  name   = "pleaco-base.qcow2"
  source = var.image
  format = "qcow2"
}

resource "libvirt_volume" "root" {
  count          = var.nodes
  name           = "pleaco-${count.index + 1}.qcow2"
  base_volume_id = libvirt_volume.base.id
  size           = 40 * 1024 * 1024 * 1024
}

resource "libvirt_cloudinit_disk" "seed" {
  count     = var.nodes
  name      = "pleaco-${count.index + 1}-seed.iso"
  user_data = var.user_data_file == "" ? "#cloud-config\n{}\n" : file(var.user_data_file)
  meta_data = yamlencode({ "instance-id" = "pleaco-${count.index + 1}", "local-hostname" = "pleaco-${count.index + 1}" })
}

resource "libvirt_domain" "node" {
  count     = var.nodes
  name      = "pleaco-${count.index + 1}"
  memory    = 2048
  vcpu      = 2
  firmware  = "/usr/share/OVMF/OVMF_CODE.fd"
  cloudinit = libvirt_cloudinit_disk.seed[count.index].id

  disk {
    volume_id = libvirt_volume.root[count.index].id
  }

  network_interface {
    network_name   = "default"
    wait_for_lease = true
  }

  console {
    type        = "pty"
    target_port = "0"
    target_type = "serial"
  }
}

output "api_urls" {
  description = "each node's admin API (the token: /var/lib/pleaco/token on the node)"
  value       = [for d in libvirt_domain.node : "http://${d.network_interface[0].addresses[0]}:7070"]
}
