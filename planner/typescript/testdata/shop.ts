export type Json =
  | string
  | number
  | boolean
  | null
  | { [key: string]: Json | undefined }
  | Json[]

export type Database = {
  __InternalSupabase: {
    PostgrestVersion: "12"
  }
  public: {
    Tables: {
      audit_log: {
        Row: {
          at: string
          actor: string | null
          action: string
        }
        Insert: {
          at?: string
          actor?: string | null
          action: string
        }
        Update: {
          at?: string
          actor?: string | null
          action?: string
        }
        Relationships: []
      }
      customers: {
        Row: {
          id: number
          name: string
          email: string
          country: string
          tags: string[]
          profile: Json | null
          referrer_id: number | null
          created_at: string
        }
        Insert: {
          id?: never
          name: string
          email: string
          country?: string
          tags?: string[]
          profile?: Json | null
          referrer_id?: number | null
          created_at?: string
        }
        Update: {
          id?: never
          name?: string
          email?: string
          country?: string
          tags?: string[]
          profile?: Json | null
          referrer_id?: number | null
          created_at?: string
        }
        Relationships: [
          {
            foreignKeyName: "customers_referrer_id_fkey"
            columns: ["referrer_id"]
            isOneToOne: false
            referencedRelation: "customers"
            referencedColumns: ["id"]
          },
        ]
      }
      order_items: {
        Row: {
          id: number
          order_id: number
          product_id: number
          quantity: number
          unit_price: number
          line_total: number | null
        }
        Insert: {
          id?: number
          order_id: number
          product_id: number
          quantity: number
          unit_price: number
          line_total?: never
        }
        Update: {
          id?: number
          order_id?: number
          product_id?: number
          quantity?: number
          unit_price?: number
          line_total?: never
        }
        Relationships: [
          {
            foreignKeyName: "order_items_order_id_fkey"
            columns: ["order_id"]
            isOneToOne: false
            referencedRelation: "orders"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "order_items_product_id_fkey"
            columns: ["product_id"]
            isOneToOne: false
            referencedRelation: "products"
            referencedColumns: ["id"]
          },
        ]
      }
      orders: {
        Row: {
          id: number
          customer_id: number
          status: Database["public"]["Enums"]["order_status"]
          total: number
          placed_on: string
          ship_by: string | null
          note: string | null
          created_at: string
        }
        Insert: {
          id?: number
          customer_id: number
          status?: Database["public"]["Enums"]["order_status"]
          total?: number
          placed_on?: string
          ship_by?: string | null
          note?: string | null
          created_at?: string
        }
        Update: {
          id?: number
          customer_id?: number
          status?: Database["public"]["Enums"]["order_status"]
          total?: number
          placed_on?: string
          ship_by?: string | null
          note?: string | null
          created_at?: string
        }
        Relationships: [
          {
            foreignKeyName: "orders_customer_id_fkey"
            columns: ["customer_id"]
            isOneToOne: false
            referencedRelation: "customers"
            referencedColumns: ["id"]
          },
        ]
      }
      products: {
        Row: {
          id: number
          sku: string
          name: string
          category: string
          price: number
          weight_kg: number | null
          in_stock: boolean
          sizes: number[] | null
        }
        Insert: {
          id: number
          sku?: string
          name: string
          category: string
          price: number
          weight_kg?: number | null
          in_stock?: boolean
          sizes?: number[] | null
        }
        Update: {
          id?: number
          sku?: string
          name?: string
          category?: string
          price?: number
          weight_kg?: number | null
          in_stock?: boolean
          sizes?: number[] | null
        }
        Relationships: []
      }
      transfers: {
        Row: {
          id: number
          from_customer: number
          to_customer: number
          amount: number
          meta: Json | null
        }
        Insert: {
          id?: number
          from_customer: number
          to_customer: number
          amount: number
          meta?: Json | null
        }
        Update: {
          id?: number
          from_customer?: number
          to_customer?: number
          amount?: number
          meta?: Json | null
        }
        Relationships: [
          {
            foreignKeyName: "transfers_from_customer_fkey"
            columns: ["from_customer"]
            isOneToOne: false
            referencedRelation: "customers"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "transfers_to_customer_fkey"
            columns: ["to_customer"]
            isOneToOne: false
            referencedRelation: "customers"
            referencedColumns: ["id"]
          },
        ]
      }
    }
    Views: {
      big_customers: {
        Row: {
          id: number | null
          name: string | null
          email: string | null
        }
        Insert: {
          id?: number | null
          name?: string | null
          email?: string | null
        }
        Update: {
          id?: number | null
          name?: string | null
          email?: string | null
        }
        Relationships: []
      }
      order_totals: {
        Row: {
          order_id: number | null
          customer_id: number | null
          items: number | null
          total: number | null
        }
        Relationships: []
      }
    }
    Functions: {
      add_them: {
        Args: {
          a: number
          b: number
        }
        Returns: number
      }
      orders_of: {
        Args: {
          customer: number
          since?: string
        }
        Returns: Database["public"]["Tables"]["orders"]["Row"][]
      }
      sales_by_category: {
        Args: {
          min_total?: number
        }
        Returns: { category: string | null; revenue: number | null; orders: number | null }[]
      }
      statuses: {
        Args: never
        Returns: Database["public"]["Enums"]["order_status"][]
      }
      touch_customer: {
        Args: {
          customer_id: number
        }
        Returns: undefined
      }
    }
    Enums: {
      order_status: "pending" | "paid" | "shipped" | "delivered" | "cancelled"
    }
    CompositeTypes: {
      [_ in never]: never
    }
  }
  ts_t_extra: {
    Tables: {
      notes: {
        Row: {
          id: number
          "body text": string | null
        }
        Insert: {
          id: number
          "body text"?: string | null
        }
        Update: {
          id?: number
          "body text"?: string | null
        }
        Relationships: []
      }
    }
    Views: {
      [_ in never]: never
    }
    Functions: {
      [_ in never]: never
    }
    Enums: {
      [_ in never]: never
    }
    CompositeTypes: {
      [_ in never]: never
    }
  }
}

type DatabaseSchemas = Omit<Database, "__InternalSupabase">
type DefaultSchema = DatabaseSchemas["public"]
type Relations<S> = S extends { Tables: infer T; Views: infer V } ? T & V : never

export type Tables<
  NameOrSchema extends keyof Relations<DefaultSchema> | { schema: keyof DatabaseSchemas },
  Name extends NameOrSchema extends { schema: keyof DatabaseSchemas }
    ? keyof Relations<DatabaseSchemas[NameOrSchema["schema"]]>
    : never = never,
> = NameOrSchema extends { schema: keyof DatabaseSchemas }
  ? Relations<DatabaseSchemas[NameOrSchema["schema"]]>[Name] extends { Row: infer R } ? R : never
  : NameOrSchema extends keyof Relations<DefaultSchema>
    ? Relations<DefaultSchema>[NameOrSchema] extends { Row: infer R } ? R : never
    : never

export type TablesInsert<
  NameOrSchema extends keyof DefaultSchema["Tables"] | { schema: keyof DatabaseSchemas },
  Name extends NameOrSchema extends { schema: keyof DatabaseSchemas }
    ? keyof DatabaseSchemas[NameOrSchema["schema"]]["Tables"]
    : never = never,
> = NameOrSchema extends { schema: keyof DatabaseSchemas }
  ? DatabaseSchemas[NameOrSchema["schema"]]["Tables"][Name] extends { Insert: infer I } ? I : never
  : NameOrSchema extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][NameOrSchema] extends { Insert: infer I } ? I : never
    : never

export type TablesUpdate<
  NameOrSchema extends keyof DefaultSchema["Tables"] | { schema: keyof DatabaseSchemas },
  Name extends NameOrSchema extends { schema: keyof DatabaseSchemas }
    ? keyof DatabaseSchemas[NameOrSchema["schema"]]["Tables"]
    : never = never,
> = NameOrSchema extends { schema: keyof DatabaseSchemas }
  ? DatabaseSchemas[NameOrSchema["schema"]]["Tables"][Name] extends { Update: infer U } ? U : never
  : NameOrSchema extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][NameOrSchema] extends { Update: infer U } ? U : never
    : never

export type Enums<
  NameOrSchema extends keyof DefaultSchema["Enums"] | { schema: keyof DatabaseSchemas },
  Name extends NameOrSchema extends { schema: keyof DatabaseSchemas }
    ? keyof DatabaseSchemas[NameOrSchema["schema"]]["Enums"]
    : never = never,
> = NameOrSchema extends { schema: keyof DatabaseSchemas }
  ? DatabaseSchemas[NameOrSchema["schema"]]["Enums"][Name]
  : NameOrSchema extends keyof DefaultSchema["Enums"]
    ? DefaultSchema["Enums"][NameOrSchema]
    : never

export type CompositeTypes<
  NameOrSchema extends keyof DefaultSchema["CompositeTypes"] | { schema: keyof DatabaseSchemas },
  Name extends NameOrSchema extends { schema: keyof DatabaseSchemas }
    ? keyof DatabaseSchemas[NameOrSchema["schema"]]["CompositeTypes"]
    : never = never,
> = NameOrSchema extends { schema: keyof DatabaseSchemas }
  ? DatabaseSchemas[NameOrSchema["schema"]]["CompositeTypes"][Name]
  : NameOrSchema extends keyof DefaultSchema["CompositeTypes"]
    ? DefaultSchema["CompositeTypes"][NameOrSchema]
    : never

export const Constants = {
  public: {
    Enums: {
      order_status: ["pending", "paid", "shipped", "delivered", "cancelled"],
    },
  },
  ts_t_extra: {
    Enums: {
    },
  },
} as const
